"""`--workers 2`: data-parallel training (torch DDP over gloo, CPU) of a retriever and a ranker on
the tiny world, against one process: the same quality within 15%, the world size and command in
the manifest, one set of files written (rank 0's), and a resumed run ending where an uninterrupted
one does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

TOWER = ("epochs=2", "weeks=2", "min_purchases=0", "embedding_size=16", "hidden=32", "history_length=8", "negatives=64")
DIN = ("prior_weight=0", "epochs=3", "history_length=8", "hidden=32", "embedding_size=8", "side_embedding_size=4")


def options(values: tuple[str, ...]) -> list[str]:
    return [word for value in values for word in ("-o", value)]


def cache_files(cache: Path) -> list[str]:
    """Every file and folder under `cache`, hidden temp names included, relative and sorted."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))


def test_two_workers_train_sampled_softmax_as_well_as_one(cli, store_dir: Path, tmp_path: Path) -> None:
    args = ["recall", "--method", "sampled-softmax", "--data", store_dir, "--week", "1", *options(TOWER)]
    one = cli.json(*args, "--cache", tmp_path / "one", "--device", "cpu")
    two = cli.json(*args, "--cache", tmp_path / "two", "--device", "cpu", "--workers", "2")
    assert one["world_size"] == 1 and two["world_size"] == 2 and two["training"]["world_size"] == 2
    assert two["command"].startswith("hmrec recall --method sampled-softmax") and two["command"].endswith("--workers 2")
    assert len(two["training"]["epochs"]) == 2  # the workers took the -o options
    assert two["figures"]["recall@100"] == pytest.approx(one["figures"]["recall@100"], rel=0.15)
    key = two["name"].split("@")[1]
    model = two["model_key"]  # the checkpoint's key: the set's without its customers (shards share it)
    week = two["training"]["weeks"][-1] and Path(two["path"]).parent.name
    assert cache_files(tmp_path / "two") == sorted(
        [
            "candidates",
            "candidates/sampled-softmax",
            f"candidates/sampled-softmax/{week}",
            f"candidates/sampled-softmax/{week}/{key}.json",
            f"candidates/sampled-softmax/{week}/{key}.parquet",
            "models",
            "models/sampled-softmax",
            f"models/sampled-softmax/{week}",
            f"models/sampled-softmax/{week}/{model}.pt",
            f"models/sampled-softmax/{week}/{model}.pt.json",
        ]
    )
    saved = torch.load(tmp_path / "two" / "models" / "sampled-softmax" / week / f"{model}.pt", weights_only=True)
    assert len(saved["rng_ranks"]) == 2 and not torch.equal(saved["rng_ranks"][0], saved["rng_ranks"][1])


def test_two_workers_train_din_as_well_as_one(cli, store_dir: Path, tmp_path: Path) -> None:
    args = ["rank", "--ranker", "din", "--candidates", "popular,repurchase", "--data", store_dir, "--week", "1"]
    args += ["--train-weeks", "3", "--k", "30", "--device", "cpu", *options(DIN)]
    one = cli.json(*args, "--cache", tmp_path / "one")
    two = cli.json(*args, "--cache", tmp_path / "two", "--workers", "2")
    assert two["world_size"] == 2 and two["training"]["world_size"] == 2 and one["world_size"] == 1
    assert two["figures"]["map@12"] == pytest.approx(one["figures"]["map@12"], rel=0.15)
    sources = json.loads(next((tmp_path / "two" / "candidates" / "popular").rglob("*.json")).read_text())
    assert sources["world_size"] == 2  # made by rank 0 while the other waited
    assert not [f for f in cache_files(tmp_path / "two") if "/." in f or f.startswith(".")]  # no spill or temp left


def test_submit_with_two_workers_writes_one_validated_submission(cli, store_dir: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "out" / "submission.csv", tmp_path / "cache"
    quick = [
        f"sampled-softmax:{o}"
        for o in ("epochs=1", "weeks=1", "min_purchases=0", "embedding_size=8", "hidden=16", "negatives=16")
    ]
    args = ["submit", "--candidates", "sampled-softmax", "--data", store_dir, "--cache", cache, "--out", out]
    m = cli.json(*args, *options(tuple(quick)), "--device", "cpu", "--workers", "2")
    assert m["validated"] and m["path"] == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["submission.csv", "submission.csv.json"]
    made = json.loads(next((cache / "candidates" / "sampled-softmax").rglob("*.json")).read_text())
    assert made["world_size"] == 2 and made["customers"] == "all"


@pytest.mark.bad_input("workers-bad")
@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--workers", "0"], {}, "--workers 0: must be 1 or more"),
        (["--workers", "99999"], {}, "--workers 99999: must be 1024 or less"),
        (["--workers", "2"], {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "4"}, "already runs under torchrun"),
    ],
)
def test_a_bad_workers_value_is_one_line(cli, store_dir: Path, tmp_path, monkeypatch, args, env, said) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = cli("recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path, *args)
    assert code == 2 and err.count("\n") == 1 and said in err, err


@pytest.mark.parametrize("grouped", [False, True])
def test_the_ranks_shares_of_each_batch_are_disjoint_and_make_the_whole_batch(monkeypatch, grouped: bool) -> None:
    from hmrec_cli.toolkit import batches

    groups = torch.arange(1001) // 7 if grouped else None  # 7 rows a customer, kept whole in one rank's share
    whole = list(batches.shuffled_batches(1001, 64, 3, 1, torch.device("cpu"), groups))
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(batches, "world", lambda rank=rank: (rank, 2))
        shares.append(list(batches.shuffled_batches(1001, 64, 3, 1, torch.device("cpu"), groups)))
    assert len(shares[0]) == len(shares[1]) == len(whole)  # every rank takes the same number of steps
    for batch, mine, theirs in zip(whole, *shares, strict=True):
        assert sorted(torch.cat([mine, theirs]).tolist()) == sorted(batch.tolist())
        assert abs(mine.numel() - theirs.numel()) <= (7 if grouped else 1) and mine.numel() >= 2
        if grouped:
            assert not set((mine // 7).tolist()) & set((theirs // 7).tolist())


def _train_in_rank(rank: int, folder: str) -> None:
    """One rank of a 2-process gloo group: two epochs straight, then one epoch and a resume to two,
    random negatives drawn every step; rank 0 saves both final weights."""
    import torch.distributed as dist

    from hmrec_cli.toolkit.batches import shuffled_batches
    from hmrec_cli.toolkit.data_parallel import leave
    from hmrec_cli.toolkit.training import Settings, train

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    target = torch.arange(300) % 40

    def run(epochs: int, checkpoint: Path, resume: bool) -> torch.nn.Module:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Embedding(40, 8), torch.nn.Linear(8, 40))

        def loss_of(batch: torch.Tensor) -> torch.Tensor:
            noise = torch.randint(0, 40, batch.shape)  # each rank's own random stream, as negatives are
            return torch.nn.functional.cross_entropy(model(noise), target[batch])

        batches = lambda epoch: shuffled_batches(300, 32, 5, epoch, torch.device("cpu"))  # noqa: E731
        train(model, loss_of, batches, 300, Settings(epochs, 0.05, patience=9), checkpoint=checkpoint, resume=resume)
        return model

    straight = run(2, Path(folder) / "straight.pt", False)
    run(1, Path(folder) / "cut.pt", False)
    resumed = run(2, Path(folder) / "cut.pt", True)
    if rank == 0:
        torch.save({"straight": straight.state_dict(), "resumed": resumed.state_dict()}, Path(folder) / "weights.pt")
    dist.barrier()
    leave(0)  # as a launched rank ends: an interpreter teardown can abort gloo's threads


def test_a_resumed_data_parallel_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    torch.multiprocessing.spawn(_train_in_rank, args=(str(tmp_path),), nprocs=2)
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    for name, value in weights["straight"].items():
        assert torch.equal(value, weights["resumed"][name]), name
    assert len(torch.load(tmp_path / "cut.pt", weights_only=True)["rng_ranks"]) == 2
