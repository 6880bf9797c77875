"""Carry out a folder's item work: register in batches of upload jobs, update in bulk, delete.

Jobs of every folder share one bound on how many are in flight (default 8, never above the backend's
concurrency). Batches hold at most `batch.images` units (`batch.videos` for videos), per source.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import JobSpec, RegistrationTally, Tick, run_job
from reconciler.interrupt import GracefulStop
from reconciler.journal import JobJournal
from reconciler.plan.diff_items import FolderWork
from reconciler.registration.desired import FolderData
from reconciler.registration.entry import Entry

DEFAULT_JOBS_IN_FLIGHT = 8
BULK_UPDATE_CHUNK = 1000  # Encord's bulk item update takes at most 1,000 patches


def job_specs(
    folder: FolderData, work: FolderWork, folder_uuid: str, integration_uuids: dict[str, str]
) -> list[JobSpec]:
    """Batches of one source and kind each: videos by `batch.videos`, everything else by `batch.images`.
    Videos with a key-frame `config` get batches of their own: they go as a registration file."""
    buckets: dict[tuple[int, bool, bool], list[Entry]] = {}
    for index, entry in work.register:
        buckets.setdefault((index, entry.type == "video", entry.config is not None), []).append(entry)
    specs: list[JobSpec] = []
    for (index, is_video, as_file), entries in sorted(buckets.items(), key=lambda kv: kv[0]):
        source, _ = folder.sources[index]
        size = source.batch.videos if is_video else source.batch.images
        integration = integration_uuids.get(source.integration)
        if integration is None:
            raise KeyError(source.integration)
        for start in range(0, len(entries), size):
            specs.append(
                JobSpec(
                    folder_path=folder.path,
                    folder_uuid=folder_uuid,
                    integration_uuid=integration,
                    ignore_errors=source.ignore_errors,
                    entries=entries[start : start + size],
                    as_file=as_file,
                )
            )
    return specs


@dataclass
class Registrar:
    """Shared by every folder of one apply: the journal, the bound on jobs in flight, the tally."""

    client: EncordClient
    journal: JobJournal
    jobs_in_flight: int = DEFAULT_JOBS_IN_FLIGHT
    tick: Tick = lambda tally: None
    tally: RegistrationTally = field(default_factory=RegistrationTally)
    where: dict[str, str] = field(default_factory=dict)  # URL -> where it is declared
    stop: GracefulStop | None = None  # a SIGTERM drops the polls (the jobs are journaled)
    _slots: asyncio.Semaphore | None = None

    def expect(self, works: dict[str, FolderWork]) -> None:
        """Announce the whole registration up front, so progress has a total and errors a place."""
        for work in works.values():
            self.tally.total += len(work.register)
            for _, entry in work.register:
                for url in entry.urls:
                    self.where[url] = entry.where

    def where_of(self, url: str) -> str:
        return self.where.get(url, url)

    async def register(
        self, folder: FolderData, work: FolderWork, folder_uuid: str, integration_uuids: dict[str, str]
    ) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.jobs_in_flight)
        slots = self._slots
        specs = job_specs(folder, work, folder_uuid, integration_uuids)

        async def one(spec: JobSpec) -> None:
            async with slots:
                await run_job(
                    self.client, spec, self.journal, self.tally, self.where_of, self.tick, self.stop
                )

        # Every job runs to its end even when another fails, so the tally and the journal stay whole.
        results = await asyncio.gather(*(one(spec) for spec in specs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def update(self, work: FolderWork) -> None:
        patches = {UUID(u.uuid): u.patch for u in work.update}
        if patches:
            await self.client.patch_items_bulk(patches)

    async def delete(self, folder_uuid: str, uuids: list[str]) -> None:
        if uuids:
            await self.client.delete_items(UUID(folder_uuid), [UUID(u) for u in uuids])
