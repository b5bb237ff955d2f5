"""A Parquet file written chunk by chunk and read back whole: how a training week larger than
memory in its unsampled form is gathered without holding every chunk at once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq


class Spill:
    """Chunks written to a Parquet file as they come, read back whole and the file removed."""

    def __init__(self, path: Path):
        self.path, self.writer = path, None

    def __enter__(self) -> Spill:
        return self

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        self.writer = self.writer or pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def read(self) -> pl.DataFrame | None:
        if self.writer is None:
            return None
        self.writer.close()
        self.writer = None
        frame = pl.read_parquet(self.path)
        self.path.unlink()
        return frame

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()
