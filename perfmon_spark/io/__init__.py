"""Delta reads and writes: table references, schema checks, MERGE on the contract keys."""
