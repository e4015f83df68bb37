"""Run by torchrun from test_distributed.py: trains, then saves this process's weights."""

import os
import sys

import torch

from nncompile.runtime.train import train

if __name__ == "__main__":
    spec, config, out = sys.argv[1:4]
    result = train(spec, config, progress=False)
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{os.environ['RANK']}.pt"))
