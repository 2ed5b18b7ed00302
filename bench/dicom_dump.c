/*
 * dicom_dump.c - load a DICOM file or series folder with mmdx's loader and
 * write its voxels as raw little-endian float32 (for the pydicom
 * cross-check in bench/dicom_crosscheck.py). Prints one line:
 * "nx ny nz nc" or the error.
 */
#include "core/common.h"
#include "io/dicom.h"

int main(int argc, char **argv)
{
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_image *img = NULL;
    char msg[2400];
    FILE *fp;
    size_t n;

    if (argc != 3) {
        fprintf(stderr, "usage: dicom_dump DICOM OUT.f32\n");
        return 2;
    }
    if (mmdx_ctx_new(&ctx))
        return 1;
    if (mmdx__dicom_load(ctx, argv[1], NULL, NULL, NULL, &img)) {
        mmdx_error_format(mmdx_ctx_last_error(ctx), msg, sizeof(msg));
        printf("ERROR %s\n", msg);
        mmdx_ctx_free(ctx);
        return 1;
    }
    n = img->nx * img->ny * img->nz * img->nc;
    fp = fopen(argv[2], "wb");
    if (!fp || fwrite(img->vox, sizeof(float), n, fp) != n) {
        perror(argv[2]);
        return 1;
    }
    fclose(fp);
    printf("%zu %zu %zu %u %s\n", img->nx, img->ny, img->nz, img->nc,
           img->photometric);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
    return 0;
}
