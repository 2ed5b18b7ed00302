/*
 * record_map.h - a small open-addressing hash map from strings to pointers,
 * used for FHIR reference resolution and for the code sets of
 * record.features. Keys are copied; values are borrowed.
 */
#ifndef MMDX_RECORD_MAP_H
#define MMDX_RECORD_MAP_H

#include "core/common.h"

struct mmdx_strmap_ent {
    char *key;        /* NULL = empty slot */
    size_t klen;
    uint32_t hash;
    void *val;
};

struct mmdx_strmap {
    struct mmdx_strmap_ent *v;
    size_t n, cap;    /* cap is 0 or a power of two */
    bool borrow;      /* keys are the caller's (they outlive the map) */
};

void mmdx__strmap_init(struct mmdx_strmap *m);
/* A map whose keys are not copied: they must outlive it. */
void mmdx__strmap_init_borrowed(struct mmdx_strmap *m);
/* Free the keys (values are the caller's). */
void mmdx__strmap_fini(struct mmdx_strmap *m);
/* Insert key[0..klen) -> val; an existing key keeps its first value.
 * E_NOMEM on failure (map unchanged). */
enum mmdx_status mmdx__strmap_put(struct mmdx_strmap *m, const char *key,
                                  size_t klen, void *val);
/* Where the value of an existing key lives (to update it), or NULL. */
void **mmdx__strmap_ref(struct mmdx_strmap *m, const char *key, size_t klen);
/* The value, or NULL. */
void *mmdx__strmap_get(const struct mmdx_strmap *m, const char *key,
                       size_t klen);

#endif
