"""Training throughput of the DIN ranker's own step, data feeding included.

    python benchmarks/din_step.py [--rows 2000000] [--device auto] [--articles 105542] [--epochs 2]

Random inputs of the real shapes (history 32, id embedding 32, 6 article side features, 29 dense
features, full-scale catalogue) are put on the device with the core's `hmrec_cli.toolkit.batches` as DIN's training does, then whole epochs
run through `hmrec_cli.toolkit.training.train` with the same batches and model as a real fit (binary
cross-entropy only: no embedding L2 or weight decay, so slightly faster than a real step). Prints examples/s per epoch; the first epoch includes warm-up. At full scale 4 training weeks
of buyers x 100 candidates are ~28M rows, so rows / (examples/s) is the epoch time to expect.

Under torchrun (`torchrun --standalone --nproc-per-node 2 benchmarks/din_step.py`) it trains
data-parallel as `hmrec rank --workers 2` does (gloo on the CPU, NCCL on CUDA) and rank 0 prints
the examples/s of all ranks together; benchmarks/ddp_step.py runs it at 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from hmrec_plugins.din import DINParams
from hmrec_plugins.din.model import DIN, Shape

from hmrec_cli.toolkit.batches import shuffled_batches, to_device
from hmrec_cli.toolkit.data_parallel import join, leads, under_launcher, world
from hmrec_cli.toolkit.training import Settings, resolve_device, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=105_542)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    args = parser.parse_args()
    if under_launcher():
        join(args.device)
    device = resolve_device(args.device, print)
    rng = np.random.default_rng(0)
    p = DINParams(batch_size=args.batch_size, epochs=args.epochs)
    n, c, a = args.rows, args.customers, args.articles
    arrays = {
        "article": rng.integers(1, a + 1, n),
        "customer": rng.integers(0, c, n),
        "seq_row": rng.integers(0, c, n),
        "price_band": rng.integers(0, 11, n),
        "dense": rng.standard_normal((n, 29), dtype=np.float32),
        "items": rng.integers(0, a + 1, (c, p.history_length)),
        "age_days": rng.integers(1, 700, (c, p.history_length)),
        "label": (rng.random(n) < 0.1).astype(np.float32),
    }
    torch.manual_seed(0)
    shape = Shape(
        articles=a + 1,
        article_fields=(132, 19, 5, 50, 299, 21),
        customer_fields=(14, 4, 4, 3, 3),
        price_bands=11,
        dense=29,
    )
    model = DIN(
        shape, torch.from_numpy(rng.integers(0, 5, (a + 1, 6))), torch.from_numpy(rng.integers(0, 3, (c, 5)))
    ).to(device)
    t = to_device(arrays, device)

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        seq = t["seq_row"][idx]
        items = t["items"][seq]
        logits = model(
            t["article"][idx],
            t["customer"][idx],
            items,
            t["age_days"][seq],
            items > 0,
            t["price_band"][idx],
            t["dense"][idx],
        )
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), t["label"][idx])

    batches = lambda epoch: shuffled_batches(n, args.batch_size, 0, epoch, device)  # noqa: E731
    log = train(model, loss_of, batches, n, Settings(args.epochs, p.learning_rate, seed=0, device=device))
    if not leads():
        return
    print(
        json.dumps(
            {
                "device": str(device),
                "world_size": world()[1],
                "rows": n,
                "batch_size": args.batch_size,
                "threads": torch.get_num_threads(),
                "examples_per_s": [round(e["examples_per_s"]) for e in log.epochs],
                "seconds": [round(e["seconds"], 2) for e in log.epochs],
            }
        )
    )


if __name__ == "__main__":
    main()
