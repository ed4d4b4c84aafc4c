"""lr_callbacks: learning-rate schedules, live LR diagnostics and LR range tests.

``import lr_callbacks`` stays light: it never imports torch, lightning,
transformers, keras, wandb or tensorboard. Framework glue lives in
``lr_callbacks.integrations.<library>``.
"""

__version__ = "0.1.0"
