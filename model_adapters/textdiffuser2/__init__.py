"""TextDiffuser-2 from its released folders, one file per stage:

* ``layout``: the planner's prompt, its answer parsed, request polygons on the 128 grid
* ``planner``: the layout planner (a causal LM) sampled as the release samples it
* ``tokens``: the release's prompt ids (caption, coordinate and character tokens)
* ``sampler``: the fine-tuned SD1.5 sampled as the release's script samples it
* ``adapter``: the harness adapter ``textdiffuser2``

Importing the package registers the adapter and imports no heavy library.
"""

from model_adapters.textdiffuser2 import adapter as adapter
