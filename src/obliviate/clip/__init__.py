"""Vision-language family (``clip``): multi-domain data, CLIP backbones with learnable vision prompts,
domain forget requests. Heavy imports (transformers) stay inside the modules that need them."""
