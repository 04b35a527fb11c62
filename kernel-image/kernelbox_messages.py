"""Every message the kernel sends is valid UTF-8.

Python text can hold lone surrogates: os.fsdecode(), os.listdir() of a name that is not
UTF-8, bytes decoded with errors="surrogateescape" or "surrogatepass". jupyter_client's JSON
packer encodes with errors="surrogateescape", which turns \\udc80-\\udcff back into raw bytes
(invalid UTF-8, so kernelboxd drops the message) and fails on any other lone surrogate (the
iopub thread then loses the whole batch of output, and logs a traceback). A print of one
such file name used to take the text printed with it.

utf8_json_packer packs as jupyter_client does and, only when that would not give valid
UTF-8, packs again with every character UTF-8 cannot hold replaced by U+FFFD. The kernel
launcher makes it the session's packer (Session.packer takes an import name).
"""

import codecs
import json

_REPLACE = "kernelbox-replacement-character"


def _replacement_character(error):
    # The UTF-8 encoder takes only ASCII text back from a handler: give it U+FFFD's bytes,
    # one per character it could not encode.
    if isinstance(error, UnicodeEncodeError):
        return "\ufffd".encode("utf-8") * (error.end - error.start), error.end
    raise error


codecs.register_error(_REPLACE, _replacement_character)


def utf8_json_packer(obj):
    from jupyter_client import session

    try:
        packed = session.json_packer(obj)
        if not packed.isascii():  # most messages are, and that check is cheap
            packed.decode("utf-8")  # what kernelboxd checks of every message
        return packed
    except UnicodeError:
        pass
    try:
        text = json.dumps(obj, default=session.json_default, ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(session.json_clean(obj), default=session.json_default,
                          ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", errors=_REPLACE)
