/* mmdx/export.h - symbol visibility for the public API. */
#ifndef MMDX_EXPORT_H
#define MMDX_EXPORT_H

#if defined(__GNUC__) && __GNUC__ >= 4
#define MMDX_API __attribute__((visibility("default")))
#else
#define MMDX_API
#endif

#if defined(__GNUC__)
#define MMDX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MMDX_PRINTF(a, b)
#endif

#endif
