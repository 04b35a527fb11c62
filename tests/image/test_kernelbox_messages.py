"""kernelbox_messages: text UTF-8 cannot hold leaves the kernel as U+FFFD.

The packer itself runs against jupyter_client in the kernel image (the e2e test
test_text_utf8_cannot_hold_is_replaced_not_lost); here, the replacement it encodes with.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..", "kernel-image")))

import kernelbox_messages  # noqa: E402  (lives in the kernel image's folder)

REPLACE = kernelbox_messages._REPLACE


def test_each_lone_surrogate_becomes_one_replacement_character():
    text = "a\ud800b\udcff\udcfe\U0001f600c\ud83d"
    encoded = text.encode("utf-8", errors=REPLACE)
    assert encoded.decode("utf-8") == "a\ufffdb\ufffd\ufffd\U0001f600c\ufffd"


def test_text_utf8_can_hold_is_unchanged():
    text = "plain, caf\u00e9, \u4e2d\u6587, \U0001f600, \ufffd itself"
    assert text.encode("utf-8", errors=REPLACE) == text.encode("utf-8")


def test_the_handler_is_for_encoding_only():
    # A decoding error is not this handler's business: it is raised as it came.
    try:
        b"\xff".decode("utf-8", errors=REPLACE)
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("a decode error was swallowed")
