"""A checkpoint that is not plain data is refused in nncompile's words: torch's own message
advises `weights_only=False`, which would run whatever the file holds."""

import pytest
import torch

from nncompile.runtime import checkpoint


class Payload:
    def __reduce__(self):
        return (print, ("ran",))


@pytest.mark.parametrize("content, message", [
    ({"format": checkpoint.FORMAT, "model": Payload()}, "is not a plain state_dict or checkpoint"),
    (b"not a checkpoint at all", "not a file torch.save wrote, or a truncated one"),
    (b"", "not a file torch.save wrote, or a truncated one"),
], ids=["pickled-object", "garbage", "empty"])
def test_a_checkpoint_torch_refuses_is_named_without_advice_to_unpickle(tmp_path, capsys, content, message):
    path = tmp_path / "last.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(path)
    assert str(caught.value).startswith(f"{path}") or str(caught.value).startswith(f"cannot read {path}")
    assert message in str(caught.value) and "weights_only" not in str(caught.value)
    assert capsys.readouterr().out == ""  # the payload never ran
