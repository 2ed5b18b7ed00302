/*
 * fusion_gen.c - write a synthetic multimodal cohort with known true risk
 * (see fusion_synth.h) for the fusion integration test and benchmark.
 *
 *   fusion_gen DIR [--n N] [--seed S] [--missing P] [--drop MODALITY]
 *                  [--small]
 *
 * DIR/features.tsv, DIR/labels.tsv (patient_id label split),
 * DIR/truth.tsv (p_true), and with --drop DIR/features_drop.tsv where the
 * test rows lack that modality. Prints bayes_auroc and prevalence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_synth.h"

static FILE *open_in(const char *dir, const char *name)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(1);
    }
    return fp;
}

int main(int argc, char **argv)
{
    struct fsyn_opts o;
    FILE *f, *f2 = NULL, *l, *t;
    double auc, prev = NAN, drop = NAN;
    int i, m;

    if (argc < 2) {
        fputs("usage: fusion_gen DIR [--n N] [--seed S] [--missing P] "
              "[--drop MODALITY] [--small]\n", stderr);
        return 2;
    }
    fsyn_default(&o);
    for (i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            o.n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            o.seed = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--missing") && i + 1 < argc)
            o.missing = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--small")) {
            o.nfeat[0] = 10;
            o.nfeat[1] = 8;
            o.nfeat[2] = 12;
            o.nfeat[3] = 6;
        } else if (!strcmp(argv[i], "--drop") && i + 1 < argc) {
            i++;
            for (m = 0; m < FSYN_NMOD; m++)
                if (!strcmp(argv[i], fsyn_mod[m]))
                    o.drop_test_mod = m;
            if (o.drop_test_mod < 0) {
                fprintf(stderr, "fusion_gen: unknown modality %s\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "fusion_gen: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    f = open_in(argv[1], "features.tsv");
    l = open_in(argv[1], "labels.tsv");
    t = open_in(argv[1], "truth.tsv");
    if (o.drop_test_mod >= 0)
        f2 = open_in(argv[1], "features_drop.tsv");
    auc = fsyn_generate(&o, f, f2, l, t, &prev, &drop);
    if (fclose(f) || fclose(l) || fclose(t) || (f2 && fclose(f2))) {
        perror("fusion_gen");
        return 1;
    }
    printf("bayes_auroc\t%.6f\nprevalence\t%.4f\n", auc, prev);
    if (o.drop_test_mod >= 0)
        printf("bayes_auroc_without_%s\t%.6f\n", fsyn_mod[o.drop_test_mod],
               drop);
    return 0;
}
