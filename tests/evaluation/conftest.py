from tests.training.conftest import image_folder  # noqa: F401 - the photo folder the training tests use
