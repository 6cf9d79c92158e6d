"""Image tokens: ViT patches at fixed, dynamic and tiled resolution (THE count: :func:`plan_image`)."""

from .plan import ImageConfig, ImagePlan, View, capped_tile_grid, dynamic_grid, plan_image
from .tokenizer import ImageTokenizer, ImageTokens, image_layout, resize_bicubic, view_boxes

__all__ = ["ImageConfig", "ImagePlan", "View", "plan_image", "dynamic_grid", "capped_tile_grid", "ImageTokenizer",
           "ImageTokens", "image_layout", "resize_bicubic", "view_boxes"]
