"""Defaults that more than one module needs, each in one place."""

# Requests in flight at once against Encord (the backend's `concurrency` overrides it). A plan's reads are
# latency-bound: 16 keeps a 25 ms round trip from dominating, and 429/503 with Retry-After still back off.
DEFAULT_CONCURRENCY = 16

# Items or folders a listing asks Encord for per page: the most its listings return (encord-api.md §5).
DEFAULT_PAGE_SIZE = 1000

# What the emulator's PATCH of clientMetadata does (`emulator serve --metadata-patch`): Encord's own
# behaviour is unconfirmed, so reconciler's updates must converge under both.
METADATA_PATCH_MODES = ("replace", "merge")

# How long a gs:// lock's lease holds without renewal (`backend.lock_ttl_seconds`); renewed every third.
LEASE_TTL_SECONDS = 300

# What the reader assumes a folder holds when it chooses between recursive and single item listings: the
# live tree carries no item counts, and a wrong guess costs pages, never correctness (encord/listings.py).
EXPECTED_ITEMS_PER_FOLDER = 100

# A bucket listing (reconciler/gcs/listing.py): names per page (the most GCS returns), ranges listed at
# once, and how many fetched pages may be held for the consumer (256 pages of names: about 25 MB) before
# only what it waits for is fetched. Fewer held pages cost speed: at 64, a million names took 3x longer.
GCS_PAGE_SIZE = 1000
GCS_LISTING_WORKERS = 16
GCS_LISTING_BUFFERED_PAGES = 256
