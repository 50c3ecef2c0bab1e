import pytest

from director import registry
from director.errors import InputError, UnknownBackend
from director.tools.image.previz import PrevizImage
from director.tools.llm.offline import OfflinePlanner
from director.tools.video.previz import PrevizVideo


def test_built_in_backends_load_by_name_and_by_name_and_model():
    assert isinstance(registry.load("planners", "offline"), OfflinePlanner)
    assert isinstance(registry.load("image", "previz:storyboard-v1"), PrevizImage)
    assert isinstance(registry.load("video", "PREVIZ"), PrevizVideo)
    assert {"technical", "palette", "duplicate"} <= set(registry.available("critics"))


def test_unknown_backend_names_the_installed_ones():
    with pytest.raises(UnknownBackend, match="Installed image backends: .*previz"):
        registry.load("image", "midjourney")


@pytest.mark.parametrize(
    "kind, spec", [("video", "previz:sora"), ("image", "previz:sdxl"), ("planners", "offline:gpt")]
)
def test_a_model_a_fixed_backend_does_not_have_is_refused(kind, spec):
    with pytest.raises(InputError):
        registry.load(kind, spec)
