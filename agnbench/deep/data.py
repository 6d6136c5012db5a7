"""Deep-track inputs straight from the memory-mapped dataset store (never one file per sample).

:class:`TrackData` knows which objects of a store have a spectrum or a cutout, builds model
inputs for any set of them (optionally augmented), and plans an epoch's batches from the run
seed and the epoch number alone. :class:`EpochBatches` is a ``torch`` dataset whose items are
whole batches, so a DataLoader with workers prefetches batches in parallel while the result
stays identical for any number of workers (each batch's augmentation draws from a generator
seeded by (seed, epoch, batch index)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from agnbench.config.deep import DeepTrainConfig, ImagesConfig, SpectraConfig
from agnbench.contracts.store import Store, validate_store_arrays
from agnbench.deep import augment
from agnbench.errors import AgnbenchError
from agnbench.seeding import make_worker_init_fn, rng, torch_generator
from agnbench.config.choices import DEEP_TRACKS as TRACKS

log = logging.getLogger(__name__)
_ROW = {"spectra": "spec_row", "images": "image_row"}
_MAX_WEIGHT = 5.0


def _array_files(store: Store, track: str) -> tuple[Path, ...]:
    """The store arrays a track reads: spectra flux and ivar, or the image cutouts."""
    paths = store.paths
    return (paths.flux, paths.ivar) if track == "spectra" else (paths.cutouts,)


@dataclass
class TrackData:
    """The objects of one store usable by one deep track, and their inputs.

    Attributes
    ----------
    track : {"spectra", "images"}
    store : Store
    cfg : SpectraConfig or ImagesConfig
    seed : int
    rows : numpy.ndarray of int, shape (n_objects,)
        Row of each object (``store.objects`` order) in the track's arrays; -1 = none.
    weight_scale : float
        Spectra: sqrt(ivar) is divided by this (median over training pixels) to make the weight channel.
    z_mean, z_std : float
        Spectra with ``use_redshift``: redshift standardisation fitted on the train split.
    fitted : dict, optional
        Preprocessing fitted elsewhere (``agnbench predict``: the run's own values, never re-fitted on
        new data): ``weight_scale`` and, with ``use_redshift``, ``z_mean`` and ``z_std``. When given,
        nothing is fitted on this store.
    """

    track: str
    store: Store
    cfg: DeepTrainConfig
    seed: int
    fitted: dict | None = None
    rows: np.ndarray = field(init=False)
    weight_scale: float = field(init=False, default=1.0)
    z_mean: float = field(init=False, default=0.0)
    z_std: float = field(init=False, default=1.0)
    _arrays: tuple | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise AgnbenchError(f"unknown deep track {self.track!r}: use spectra or images")
        for path in _array_files(self.store, self.track):
            if not path.exists():
                rel = path.relative_to(self.store.path).as_posix()
                raise AgnbenchError(
                    f"{self.store.path}: the store has no {rel}, so the {self.track} track cannot train on it; "
                    f"rebuild it with agnbench prep from a raw directory that has {self.track}")
        # a store made before prep checked its arrays may hold inf/NaN: say which objects, not "Input contains NaN"
        validate_store_arrays(self.store.path, self.store.objects,
                              arrays=("flux", "ivar") if self.track == "spectra" else ("cutouts",))
        self.rows = self.store.objects[_ROW[self.track]].to_numpy(np.int64)
        if not (self.rows >= 0).any():
            raise AgnbenchError(f"{self.store.path}: no object has {self.track} ({_ROW[self.track]} is -1 for all); "
                                "see quarantine.csv for why they were rejected")
        if self.fitted is not None:
            self.weight_scale = float(self.fitted.get("weight_scale", 1.0))
            self.z_mean = float(self.fitted.get("z_mean", 0.0))
            self.z_std = float(self.fitted.get("z_std", 1.0))
            return
        train = self.indices("train")
        if self.track == "spectra":
            ivar = self.arrays[1][np.sort(self.rows[train[:500]])]
            pos = ivar[ivar > 0]
            self.weight_scale = float(np.median(np.sqrt(pos))) if pos.size else 1.0
            z = self.store.objects["z"].to_numpy(np.float64)[train]
            if getattr(self.cfg, "use_redshift", False):
                if not np.isfinite(z).all():
                    raise AgnbenchError(f"{self.store.path}: spectra.use_redshift needs z for every training object")
                self.z_mean, self.z_std = float(z.mean()), float(z.std() or 1.0)

    def preprocessing(self) -> dict[str, float]:
        """The preprocessing fitted on the training store, as :attr:`fitted` takes it back."""
        return {"weight_scale": self.weight_scale, "z_mean": self.z_mean, "z_std": self.z_std}

    # -- arrays are opened lazily so the object pickles cheaply into DataLoader workers ------------------
    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The track's memory-mapped arrays (flux, ivar) or (cutouts,)."""
        if self._arrays is None:
            self._arrays = tuple(np.load(path, mmap_mode="r") for path in _array_files(self.store, self.track))
        return self._arrays

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"] = None
        return state

    @property
    def n_channels(self) -> int:
        """Input channels of the model: bands, or flux (+ weight)."""
        if self.track == "images":
            return int(self.arrays[0].shape[1])
        return 2 if self.cfg.use_ivar else 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch axis."""
        return (self.n_channels, *self.arrays[0].shape[2:]) if self.track == "images" else \
            (self.n_channels, int(self.arrays[0].shape[1]))

    @property
    def n_scalars(self) -> int:
        """Extra scalar inputs (1 with spectra.use_redshift)."""
        return int(self.track == "spectra" and self.cfg.use_redshift)

    def indices(self, split: str) -> np.ndarray:
        """Positions (in ``store.objects``) of the split's objects that have this track's data.

        Labelled splits keep only labelled objects (label >= 0); ``ood`` keeps all of its objects.
        """
        obj = self.store.objects
        mask = (obj["split"].to_numpy() == split) & (self.rows >= 0)
        if split != "ood":
            mask &= obj["label"].to_numpy() >= 0
        return np.flatnonzero(mask)

    def missing(self) -> dict[str, int]:
        """Objects of each scored split that lack this track's data (they get no prediction)."""
        obj = self.store.objects
        split = obj["split"].to_numpy()
        return {s: int(((split == s) & (self.rows < 0)).sum()) for s in ("train", "val", "test", "ood")}

    def labels(self, positions: np.ndarray) -> np.ndarray:
        """Class index of each object (-1 for ood / unlabelled)."""
        return self.store.objects["label"].to_numpy(np.int64)[positions]

    def inputs(self, positions: np.ndarray, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Model inputs for the objects at ``positions``; augmented when a generator is given.

        Returns
        -------
        x : torch.Tensor of float32
            (batch, bands, H, W) stretched cutouts, or (batch, 1 or 2, L) flux [and weight].
        scalars : torch.Tensor of float32, shape (batch, 1), or None
            Standardised redshift when ``spectra.use_redshift``.
        """
        rows = self.rows[positions]
        if (rows < 0).any():
            raise AgnbenchError(f"object {self.store.objects['object_id'].iloc[positions[rows < 0][0]]} has no "
                                f"{self.track} in {self.store.path}")
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        if self.track == "images":
            x = torch.from_numpy(np.asarray(self.arrays[0][sorted_rows], dtype=np.float32)[back])
            if generator is not None:
                cfg: ImagesConfig = self.cfg  # type: ignore[assignment]
                x = augment.augment_images(x, generator=generator, shift=cfg.shift_pixels, noise=cfg.noise_sigma)
            return x.contiguous(), None
        return self._spectra_inputs(positions, sorted_rows, back, generator)

    def _spectra_inputs(self, positions: np.ndarray, sorted_rows: np.ndarray, back: np.ndarray,
                        generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg: SpectraConfig = self.cfg  # type: ignore[assignment]
        flux = torch.from_numpy(np.asarray(self.arrays[0][sorted_rows], dtype=np.float32)[back])
        ivar = torch.from_numpy(np.asarray(self.arrays[1][sorted_rows], dtype=np.float32)[back])
        if generator is not None and cfg.noise_scale > 0:
            flux = augment.ivar_noise(flux, ivar, cfg.noise_scale, generator)
            ivar = ivar / (1.0 + cfg.noise_scale**2)
        if cfg.flux_clip > 0:  # one pathological spectrum (a near-zero normaliser) must not dominate the batch
            flux = flux.clamp(-cfg.flux_clip, cfg.flux_clip)
        weight = (ivar.sqrt() / self.weight_scale).clamp(0, _MAX_WEIGHT) if cfg.use_ivar else None
        if generator is not None:
            flux, weight = augment.mask_windows(flux, weight, n_windows=cfg.mask_windows, width=cfg.mask_width,
                                                generator=generator)
        x = flux[:, None, :] if weight is None else torch.stack([flux, weight], dim=1)
        if generator is not None:
            x = augment.shift_spectra(x, cfg.shift_pixels, generator)
        scalars = None
        if self.n_scalars:
            z = self.store.objects["z"].to_numpy(np.float64)[positions]
            scalars = torch.from_numpy(((z - self.z_mean) / self.z_std).astype(np.float32))[:, None]
        return x.contiguous(), scalars

    def epoch_plan(self, epoch: int) -> list[np.ndarray]:
        """The training batches of ``epoch`` (positions), a function of (seed, epoch) only.

        ``shuffle``: a permutation of the train split; ``balanced``: as many draws with
        replacement, each class equally likely. The last incomplete batch is dropped (batch
        norm needs more than one sample, and every step then has the same size).
        """
        train = self.indices("train")
        gen = rng(self.seed, "deep", "epoch", epoch)
        if self.cfg.sampler == "balanced":
            y = self.labels(train)
            counts = np.bincount(y)
            p = 1.0 / counts[y]
            order = gen.choice(train, size=train.size, replace=True, p=p / p.sum())
        else:
            order = gen.permutation(train)
        bs = self.cfg.batch_size
        return [order[i : i + bs] for i in range(0, order.size - bs + 1, bs)]


class EpochBatches(torch.utils.data.Dataset):
    """Item ``k`` = batch ``k`` of an epoch: (x, scalars or empty tensor, y), augmented with its own generator.

    The generator of batch ``k`` is keyed by (seed, epoch, ``k * stride + first``); under torchrun each process
    passes ``first=rank, stride=world_size`` so no two processes draw the same augmentations.
    """

    def __init__(self, data: TrackData, plan: list[np.ndarray], *, epoch: int, augment_inputs: bool, first: int = 0,
                 stride: int = 1) -> None:
        self.data, self.plan, self.epoch, self.augment_inputs = data, plan, epoch, augment_inputs
        self.first, self.stride = first, stride

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = k * self.stride + self.first
        gen = torch_generator(self.data.seed, "deep", "augment", self.epoch, key) if self.augment_inputs else None
        x, scalars = self.data.inputs(self.plan[k], generator=gen)
        y = torch.from_numpy(self.data.labels(self.plan[k]))
        return x, (torch.empty(0) if scalars is None else scalars), y


def batch_loader(dataset: torch.utils.data.Dataset, *, workers: int, seed: int, pin_memory: bool = False):
    """Iterate over a batch dataset, in the main process (workers=0) or with prefetching workers.

    ``pin_memory`` (training on CUDA): the workers' batches are copied to page-locked memory so the
    copies to the GPU overlap compute (with workers=0 batches are used as they are).

    The DataLoader gets its own seeded generator: without one it would draw its workers' base seed
    from the global torch RNG and so shift the trainer's dropout masks (results would then depend
    on the number of workers).
    """
    if workers == 0:
        return (dataset[k] for k in range(len(dataset)))
    return torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                                       worker_init_fn=make_worker_init_fn(seed), prefetch_factor=4,
                                       persistent_workers=False, pin_memory=pin_memory,
                                       generator=torch_generator(seed, "deep", "loader"))

