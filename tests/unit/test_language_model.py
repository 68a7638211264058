"""The language model as aliasdesk loads it: the package's own model, loaded once however
many threads ask at once, and not at all in a process that never reads a text for its
language."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from aliasdesk.services.language_model import identifier
from aliasdesk.services.languages import detect_language

ROOT = Path(__file__).resolve().parents[2]

_THREADS = """
import json, sys, threading
import gateway.process, worker.dispatch, aliasdesk.runtime
numpy_before = "numpy" in sys.modules
from aliasdesk.services import language_model
got = []
threads = [threading.Thread(target=lambda: got.append(id(language_model.identifier())))
           for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"numpy_before": numpy_before, "loads": language_model.loads_so_far(),
                  "models": len(set(got)), "answers": len(got)}))
"""


def test_the_model_is_the_packages_own_model() -> None:
    ours = identifier()
    theirs = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    assert np.array_equal(ours.nb_ptc, theirs.nb_ptc) and ours.nb_ptc.dtype == np.float16
    assert np.array_equal(ours.nb_pc, theirs.nb_pc)
    assert ours.nb_classes == theirs.nb_classes
    assert ours.tk_nextmove == theirs.tk_nextmove
    assert ours.tk_nextmove.typecode == theirs.tk_nextmove.typecode
    assert ours.tk_row == theirs.tk_row
    assert ours.tk_output == theirs.tk_output
    text = "Il portatile non si accende più da ieri sera, potete aiutarmi per favore?"
    assert ours.classify(text) == theirs.classify(text)
    assert ours.classify(text)[0] == "it"


def test_detection_reads_the_languages_we_write_and_drops_the_others() -> None:
    german = "Guten Tag, mein Laptop startet seit gestern nicht mehr. Können Sie mir helfen?"
    dutch = "Goedemiddag, mijn laptop start sinds gisteren niet meer op. Kunt u mij helpen?"
    italian = "Il portatile non si accende più da ieri sera, potete aiutarmi per favore?"
    assert detect_language(german) == "de"
    assert detect_language(dutch) == "nl"
    assert detect_language(italian) is None


def test_threads_asking_at_once_share_one_load_and_processes_import_it_only_then() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _THREADS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {"numpy_before": False, "loads": 1, "models": 1, "answers": 6}
