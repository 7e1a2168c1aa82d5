"""Runs every test of the Python client: ``python3 -m tests`` from clients/python.

The devnet tests run when ``TOKENBOOK_URL`` is set (run-devnet-tests sets it) and are skipped
otherwise. Ends with the line ``python-client: N passed, N failed, N skipped`` and exits non-zero
when a test failed — or, with ``TOKENBOOK_URL`` set, when one was skipped.
"""

import os
import pathlib
import sys
import unittest

here = pathlib.Path(__file__).resolve().parent
suite = unittest.defaultTestLoader.discover(str(here), top_level_dir=str(here.parent))
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
print(f"python-client: {result.testsRun - failed - skipped} passed, {failed} failed, "
      f"{skipped} skipped")
sys.exit(1 if failed or (skipped and os.environ.get("TOKENBOOK_URL")) else 0)
