/*
 * fuzz_deid.c - libFuzzer harness for the de-identification rules: the
 * field names and values loaders hand to check.deid come from input
 * files. Input: one byte of kind, the field up to the first newline, the
 * value after it.
 */
#include "core/common.h"
#include "pipeline/deid.h"
#include "pipeline/stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mmdx_idfield f;
    struct mmdx_deid_rules shifted = { true }, plain = { false };
    char *buf, *nl;
    const char *r1, *r2;

    if (size < 1 || size > 4096)
        return 0;
    buf = mmdx__malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    nl = strchr(buf, '\n');
    memset(&f, 0, sizeof(f));
    f.modality = data[0] % MMDX_MOD_COUNT;
    f.kind = (enum mmdx_id_kind)(1 + data[0] % 9);
    f.file = (char *)"fuzz";
    f.field = buf;
    f.value = nl ? nl + 1 : (char *)"";
    if (nl)
        *nl = '\0';
    r1 = mmdx__deid_rule(&f, "P001", &plain);
    r2 = mmdx__deid_rule(&f, NULL, &shifted);
    /* shifting dates can only remove findings, never add one */
    if (r2 && !r1)
        abort();
    (void)mmdx__deid_is_declaration(&f);
    (void)mmdx__deid_placeholder(f.value);
    (void)mmdx__deid_date_precision(f.value);
    mmdx__free(buf);
    return 0;
}
