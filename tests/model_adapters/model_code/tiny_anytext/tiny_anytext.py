"""A tiny pipeline with AnyText's call contract, on Stable Diffusion components.

It checks what AnyText's pipelines check (one position region per double-quoted text line, a
source image when editing), generates from the caption with the lines replaced by ``*`` as
AnyText does, then keeps the source image outside the text regions when editing and darkens
the regions when generating, so that where the positions landed can be seen in the output.
"""

import re

import cv2
import numpy as np
from diffusers import StableDiffusionPipeline
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from PIL import Image


class TinyAnyTextPipeline(StableDiffusionPipeline):
    def __call__(self, prompt, mode="generate", draw_pos=None, ori_image=None, num_inference_steps=20, guidance_scale=9.0,
                 negative_prompt=None, num_images_per_prompt=1, generator=None, height=None, width=None, **kwargs):
        texts = re.findall(r'"(.*?)"', prompt)
        regions = (np.asarray(draw_pos)[..., 0] > 127).astype(np.uint8)
        count = cv2.connectedComponents(regions)[0] - 1
        if count < len(texts):
            raise ValueError(f"Found {count} positions that < needed {len(texts)} from prompt")
        if mode not in ("generate", "edit"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "edit" and ori_image is None:
            raise ValueError("Reference image and position image are needed for text editing!")
        caption = re.sub(r'"(.*?)"', " * ", prompt)
        result = super().__call__(
            caption, height=height, width=width, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
            negative_prompt=negative_prompt, num_images_per_prompt=num_images_per_prompt, generator=generator, output_type="np",
        )
        hint = regions[..., None].astype(np.float32)
        if mode == "edit":
            source = np.asarray(ori_image, dtype=np.float32) / 255.0
            images = source * (1 - hint) + result.images * hint
        else:
            images = result.images * (1 - 0.5 * hint)
        return ImagePipelineOutput(images=[Image.fromarray((image * 255).round().astype(np.uint8)) for image in images])
