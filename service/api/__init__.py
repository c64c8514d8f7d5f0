"""HTTP layer: request/response models (``protocol``) and routes (``router``)."""
