"""AnyText, one file per part:

* ``checkpoint``: the release's checkpoint, yaml and CLIP folder
* ``ocr``: the OCR recogniser whose features embed each text line
* ``text``: the prompt encoder with text-line embeddings in the ``*`` placeholders
* ``networks``: UNet, text-control network with its auxiliary latent module, VAE
* ``sampler``: the release's DDIM sampling
* ``glyphs``: glyph lines, glyph canvases and position masks drawn from texts and polygons
* ``model``: the loaded model and one sampling call as the release makes it
* ``requests``: from a harness request to AnyText's prompt and canvas
* ``adapter``: the harness adapter ``anytext`` (the released checkpoint, natively)
* ``port``: the harness adapter ``anytext-diffusers`` (a diffusers-format port with its own code)

Importing the package registers both adapters and imports no heavy library.
"""

from model_adapters.anytext import adapter as adapter
from model_adapters.anytext import port as port
