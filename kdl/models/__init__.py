"""kdl's model zoo, behind one registry.

    >>> from kdl import models
    >>> models.list_models("resnet*")
    >>> model = models.get_model("vgg16", input_shape=(32, 32, 3), classes=10)
"""

from kdl.models import alexnet, autoencoder, char_rnn, lenet, mlp, perceptron, resnet, sdae, vgg, vit  # noqa: F401
from kdl.models._registry import get_model, list_models, register_model
from kdl.models.char_rnn import generate
from kdl.models.sdae import pretrain_stacked_denoising_autoencoder, stack_to_classifier

__all__ = [
    "generate",
    "get_model",
    "list_models",
    "pretrain_stacked_denoising_autoencoder",
    "register_model",
    "stack_to_classifier",
]
