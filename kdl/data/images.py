"""One way to bring any image file to a model's input, for training and for serving alike.

Alpha dropped, RGB to grey by tf.image's luma weights (grey repeated for RGB), then
bilinear resizing with antialiasing (area-like when shrinking a photo, plain bilinear when
enlarging), the aspect ratio not kept (as Keras' ``image_dataset_from_directory``). A
folder of photos (:mod:`kdl.data.folders`), the export's ``serving_bytes`` signature and
``kdl predict`` all decode through :func:`decode_image`, so a model sees at serving time
the pixels it was trained on. Decoding is TensorFlow's (``tf.io.decode_image``: PNG, JPEG,
BMP, GIF), inside tf.data, not PIL in a Python loop.
"""

from __future__ import annotations

RESIZE = {"method": "bilinear", "antialias": True, "keeps_aspect_ratio": False,
          "formats": ["png", "jpeg", "bmp", "gif"]}
# The file names a folder source reads (Keras' image_dataset_from_directory's list).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def decode_image(data, image_shape):
    """One encoded image (a scalar ``tf.string``; any size; grey, grey+alpha, RGB or RGBA)
    as ``float32`` pixels in [0, 255] of ``image_shape`` (H, W, C)."""
    import tensorflow as tf

    height, width, channels = (int(d) for d in image_shape)
    image = tf.cast(tf.io.decode_image(data, expand_animations=False), tf.float32)
    n = tf.shape(image)[-1]  # 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA: alpha dropped
    if channels == 1:
        image = tf.cond(n < 3, lambda: image[..., :1],
                        lambda: tf.image.rgb_to_grayscale(image[..., :3]))
    else:
        image = tf.cond(n < 3, lambda: tf.repeat(image[..., :1], channels, axis=-1),
                        lambda: image[..., :channels])
    image.set_shape([None, None, channels])
    return tf.image.resize(image, (height, width), method=RESIZE["method"],
                           antialias=RESIZE["antialias"])


def decode_images(encoded, image_shape):
    """A batch of encoded images (``tf.string[N]``) as ``float32[N, H, W, C]`` in [0, 255]."""
    import tensorflow as tf

    height, width, channels = (int(d) for d in image_shape)
    return tf.map_fn(lambda data: decode_image(data, image_shape), encoded,
                     fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32))
