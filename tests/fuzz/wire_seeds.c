/* Writes fuzz_wire's seed corpus: the messages an IPython kernel sends during one execution
 * (status, execute_input, stream, display_data, execute_result, error, execute_reply, ...),
 * framed and signed by kernelbox's own wire_header() and wire_sign() with the fuzzing key, in
 * fuzz_wire's input format (mode byte, frames separated by FUZZ_WIRE_SEP).
 * Usage: wire_seeds DIR   (rewrites DIR/wire-*; the corpus in git was made this way) */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "wire.h"

#define REQUEST_ID "a3f1c2d4e5b6478899aabbccddeeff00"
#define DATE 1733332800.123456

struct seed {
    const char *name;
    const char *type;
    bool shell;
    unsigned mode; /* fuzz_wire's mode bits besides the channel */
    const char *content;
    const char *metadata;
    int nbuffers;
};

static const struct seed seeds[] = {
    {"status-busy", "status", false, 0x01, "{\"execution_state\":\"busy\"}", "{}", 0},
    {"execute-input", "execute_input", false, 0x01,
     "{\"code\":\"x = 41\\nx + 1\",\"execution_count\":2}", "{}", 0},
    {"stream-stdout", "stream", false, 0x05, "{\"name\":\"stdout\",\"text\":\"hello\\n\"}", "{}",
     0},
    {"stream-stderr-utf8", "stream", false, 0x15,
     "{\"name\":\"stderr\",\"text\":\"warn: caf\\u00e9 \xe2\x82\xac \xf0\x9f\x90\x8d\\n\"}", "{}",
     0},
    {"stream-long", "stream", false, 0x0d,
     "{\"name\":\"stdout\",\"text\":\"0123456789012345678901234567890123456789012345678901234567"
     "890123456789012345678901234567890123456789012345678901234567890123456789\\n\"}",
     "{}", 0},
    {"display-data", "display_data", false, 0x01,
     "{\"data\":{\"text/plain\":\"<Figure size 640x480>\",\"image/png\":\"iVBORw0KGgo=\"},"
     "\"metadata\":{\"image/png\":{\"width\":640,\"height\":480}},"
     "\"transient\":{\"display_id\":\"d-1\"}}",
     "{}", 1},
    {"update-display-data", "update_display_data", false, 0x01,
     "{\"data\":{\"text/plain\":\"50%\"},\"metadata\":{},\"transient\":{\"display_id\":\"d-1\"}}",
     "{}", 0},
    {"execute-result", "execute_result", false, 0x01,
     "{\"data\":{\"text/plain\":\"42\"},\"metadata\":{},\"execution_count\":2}", "{}", 0},
    {"error", "error", false, 0x11,
     "{\"ename\":\"ZeroDivisionError\",\"evalue\":\"division by zero\",\"traceback\":["
     "\"\\u001b[0;31m------------------------------------------------------------\\u001b[0m\","
     "\"\\u001b[0;31mZeroDivisionError\\u001b[0m: division by zero\"]}",
     "{}", 0},
    {"clear-output", "clear_output", false, 0x01, "{\"wait\":true}", "{}", 0},
    {"status-idle", "status", false, 0x01, "{\"execution_state\":\"idle\"}", "{}", 0},
    {"execute-reply-ok", "execute_reply", true, 0x01,
     "{\"status\":\"ok\",\"execution_count\":2,\"user_expressions\":{},\"payload\":[]}",
     "{\"started\":\"2024-12-04T17:20:00.123456Z\",\"dependencies_met\":true,"
     "\"engine\":\"0f1e2d3c\",\"status\":\"ok\"}",
     0},
    {"execute-reply-error", "execute_reply", true, 0x01,
     "{\"status\":\"error\",\"execution_count\":3,\"ename\":\"NameError\","
     "\"evalue\":\"name 'y' is not defined\",\"traceback\":[\"NameError: y\"]}",
     "{}", 0},
    {"execute-reply-aborted", "execute_reply", true, 0x01, "{\"status\":\"aborted\"}", "{}", 0},
    {"unsigned-stream", "stream", false, 0x00, "{\"name\":\"stdout\",\"text\":\"forged\\n\"}", "{}",
     -1},
};

static int write_seed(const char *dir, const struct seed *s, const struct wire_key *key)
{
    char header[512], parent[512], sig[WIRE_SIG_HEX + 1], path[4096];
    const char *ident = s->shell ? "\x00k\x8b\x45\x67" : "kernel.4e1f.iopub";
    size_t ident_len = s->shell ? 5 : strlen(ident);
    struct wire_frame parts[4];
    unsigned char sep = FUZZ_WIRE_SEP;
    unsigned char mode = (unsigned char)(s->mode | (s->shell ? 0x02 : 0));
    int hlen, plen;
    FILE *f;

    hlen = wire_header(header, sizeof(header), "5d0c7c7e9a2b4c3d8e1f00112233aabb", "kernel-4e1f",
                       s->type, DATE);
    plen = wire_header(parent, sizeof(parent), REQUEST_ID, "kernelbox-client", "execute_request",
                       DATE - 0.5);
    if (hlen < 0 || plen < 0)
        return -ENOSPC;
    parts[0] = (struct wire_frame){header, (size_t)hlen};
    parts[1] = (struct wire_frame){parent, (size_t)plen};
    parts[2] = (struct wire_frame){s->metadata, strlen(s->metadata)};
    parts[3] = (struct wire_frame){s->content, strlen(s->content)};
    if (wire_sign(key, parts, sig) < 0)
        return -EIO;
    if (s->nbuffers < 0)
        memset(sig, '0', WIRE_SIG_HEX); /* a forged message: wrong signature */

    snprintf(path, sizeof(path), "%s/wire-%s", dir, s->name);
    f = fopen(path, "wb");
    if (f == NULL)
        return -errno;
    fwrite(&mode, 1, 1, f);
    fwrite(ident, 1, ident_len, f);
    fwrite(&sep, 1, 1, f);
    fwrite(WIRE_DELIM, 1, sizeof(WIRE_DELIM) - 1, f);
    fwrite(&sep, 1, 1, f);
    fwrite(sig, 1, WIRE_SIG_HEX, f);
    for (int i = 0; i < 4; i++) {
        fwrite(&sep, 1, 1, f);
        fwrite(parts[i].data, 1, parts[i].len, f);
    }
    for (int i = 0; i < s->nbuffers; i++) {
        fwrite(&sep, 1, 1, f);
        fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    }
    return fclose(f) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
    struct wire_key *key;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    key = wire_key_new((const uint8_t *)FUZZ_WIRE_KEY, sizeof(FUZZ_WIRE_KEY) - 1);
    if (key == NULL)
        return 1;
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]) && rc == 0; i++)
        rc = write_seed(argv[1], &seeds[i], key);
    wire_key_free(key);
    if (rc < 0)
        fprintf(stderr, "wire_seeds: %s\n", strerror(-rc));
    return rc < 0 ? 1 : 0;
}
