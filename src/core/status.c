/* status.c - names and descriptions of status codes, from one X-macro list. */
#include "core/common.h"

const char *mmdx_status_name(enum mmdx_status st)
{
    switch (st) {
#define MMDX_STATUS_NAME_(name, num, desc) \
    case MMDX_##name:                      \
        return #name;
        MMDX_STATUS_MAP(MMDX_STATUS_NAME_)
#undef MMDX_STATUS_NAME_
    default:
        return "E_UNKNOWN";
    }
}

const char *mmdx_status_str(enum mmdx_status st)
{
    switch (st) {
#define MMDX_STATUS_STR_(name, num, desc) \
    case MMDX_##name:                     \
        return desc;
        MMDX_STATUS_MAP(MMDX_STATUS_STR_)
#undef MMDX_STATUS_STR_
    default:
        return "unknown status";
    }
}
