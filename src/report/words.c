/*
 * words.c - feature names in words: "ecg.hrv.rmssd_ms" -> family "Heart-
 * rate variability", name "RMSSD", unit "ms". Only names are translated;
 * nothing here interprets a value except the heart-rate ranges below.
 */
#include "core/common.h"
#include "report/report.h"

static const struct {
    const char *key, *words;
} families[] = {
    { "hr", "Heart rate" },
    { "rate", "Heart rate" },
    { "rr", "RR intervals" },
    { "hrv", "Heart-rate variability" },
    { "rhythm", "Rhythm and AF indicators" },
    { "af", "Atrial fibrillation indicators" },
    { "qrs", "QRS complex" },
    { "beat", "Beats" },
    { "quality", "Signal quality" },
    { "band", "Band power" },
    { "ratio", "Band ratios" },
    { "slowing", "Slowing" },
    { "asym", "Left-right asymmetry" },
    { "spectral", "Spectral summary" },
    { "hjorth", "Hjorth parameters" },
    { "artifact", "Artifacts" },
    { "firstorder", "Intensity (first order)" },
    { "stat", "Intensity statistics" },
    { "ih", "Intensity histogram" },
    { "glszm", "Texture (GLSZM)" },
    { "ngtdm", "Texture (NGTDM)" },
    { "ngldm", "Texture (NGLDM)" },
    { "glcm", "Texture (GLCM)" },
    { "glrlm", "Texture (GLRLM)" },
    { "shape", "Shape" },
    { "lesion", "Lesion burden" },
    { "roi", "Region of interest" },
    { "demo", "Demographics" },
    { "vital", "Vital signs" },
    { "vitals", "Vital signs" },
    { "lab", "Laboratory" },
    { "labs", "Laboratory" },
    { "comorb", "Comorbidities" },
    { "hx", "History" },
    { "med", "Medications" },
    { "meds", "Medications" },
    { "score", "Clinical scores" },
};

/* Units as they end a feature name ("_ms") and how to print them. */
static const struct {
    const char *suffix, *unit;
} units[] = {
    { "ms", "ms" },       { "s", "s" },          { "bpm", "bpm" },
    { "hz", "Hz" },       { "mv", "mV" },        { "uv", "\xc2\xb5V" },
    { "uv2", "\xc2\xb5V\xc2\xb2" }, { "ms2", "ms\xc2\xb2" },
    { "pct", "%" },       { "rel", "fraction" }, { "hu", "HU" },
    { "mm", "mm" },       { "mm2", "mm\xc2\xb2" }, { "mm3", "mm\xc3\xb3" },
    { "ml", "mL" },       { "cm3", "cm\xc2\xb3" }, { "years", "years" },
    { "kg", "kg" },       { "kgm2", "kg/m\xc2\xb2" }, { "mmhg", "mmHg" },
    { "cm", "cm" },       { "mgdl", "mg/dL" },   { "mmoll", "mmol/L" },
    { "gdl", "g/dL" },    { "umoll", "\xc2\xb5mol/L" },
    { "mlmin", "mL/min" }, { "count", "count" }, { "n", "count" },
    { "flag", "yes=1/no=0" }, { "bits", "bits" }, { "db", "dB" },
    { "frac", "fraction" },
    /* compound units, matched as a whole tail */
    { "mg_dl", "mg/dL" }, { "mmol_l", "mmol/L" }, { "kg_m2", "kg/m\xc2\xb2" },
    { "ml_min_1_73m2", "mL/min/1.73 m\xc2\xb2" }, { "umol_l", "\xc2\xb5mol/L" },
    { "g_dl", "g/dL" }, { "ml_min", "mL/min" },
};

/* Abbreviations printed in capitals (or as given). */
static const struct {
    const char *tok, *words;
} toks[] = {
    { "rmssd", "RMSSD" }, { "sdnn", "SDNN" }, { "pnn50", "pNN50" },
    { "sdsd", "SDSD" },   { "lf", "LF" },     { "hf", "HF" },
    { "vlf", "VLF" },     { "rr", "RR" },     { "af", "AF" },
    { "qrs", "QRS" },     { "sqi", "SQI" },   { "sd1", "SD1" },
    { "sd2", "SD2" },     { "hr", "heart rate" }, { "lr", "left-right" },
    { "cha2ds2vasc", "CHA\xe2\x82\x82" "DS\xe2\x82\x82-VASc" },
    { "bmi", "BMI" },     { "egfr", "eGFR" }, { "ecg", "ECG" },
    { "eeg", "EEG" },     { "sef90", "spectral edge (90 %)" },
    { "sef95", "spectral edge (95 %)" }, { "glcm", "GLCM" },
    { "hba1c", "HbA1c" }, { "iqr", "IQR" }, { "p10", "10th percentile" },
    { "p90", "90th percentile" }, { "cov", "coefficient of variation" },
    { "mad", "mean absolute deviation" }, { "rms", "RMS" }, { "ldl", "LDL" },   { "hdl", "HDL" },
    { "sbp", "systolic BP" }, { "dbp", "diastolic BP" },
    { "mean", "mean" },   { "std", "SD" },    { "tia", "TIA" },
    { "chf", "heart failure" }, { "htn", "hypertension" },
    { "dm", "diabetes" }, { "pad", "peripheral arterial disease" },
    { "cad", "coronary artery disease" }, { "mi", "myocardial infarction" },
};

const char *mmdx__report_family_words(const char *family)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(families); i++)
        if (strcmp(families[i].key, family) == 0)
            return families[i].words;
    return NULL;
}

void mmdx__report_words(const char *name, struct feature_words *w)
{
    const char *a = strchr(name, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    const char *fam;
    char stem[128], tok[64];
    size_t i, k, n;

    memset(w, 0, sizeof(*w));
    if (!a || !b) {
        mmdx__strlcpy(w->name, name, sizeof(w->name));
        return;
    }
    n = (size_t)(b - a - 1);
    if (n >= sizeof(w->family_key))
        n = sizeof(w->family_key) - 1;
    memcpy(w->family_key, a + 1, n);
    w->family_key[n] = '\0';
    fam = mmdx__report_family_words(w->family_key);
    mmdx__strlcpy(w->family, fam ? fam : w->family_key, sizeof(w->family));
    mmdx__strlcpy(stem, b + 1, sizeof(stem));
    /* the unit is the longest known "_tail" (one or more tokens) */
    {
        size_t best = 0, sl = strlen(stem);

        for (i = 0; i < MMDX_ARRAY_SIZE(units); i++) {
            size_t ul = strlen(units[i].suffix);

            if (ul + 1 < sl && ul > best && stem[sl - ul - 1] == '_' &&
                strcmp(stem + sl - ul, units[i].suffix) == 0) {
                best = ul;
                mmdx__strlcpy(w->unit, units[i].unit, sizeof(w->unit));
            }
        }
        if (best)
            stem[sl - best - 1] = '\0';
    }
    /* words: tokens split on '_' and '.', abbreviations expanded */
    for (i = 0, k = 0;; i++) {
        char c = stem[i];

        if (c && c != '_' && c != '.') {
            if (k + 1 < sizeof(tok))
                tok[k++] = c;
            continue;
        }
        tok[k] = '\0';
        if (k) {
            const char *out = tok;
            size_t t;

            for (t = 0; t < MMDX_ARRAY_SIZE(toks); t++)
                if (strcmp(toks[t].tok, tok) == 0) {
                    out = toks[t].words;
                    break;
                }
            if (w->name[0])
                mmdx__strlcpy(w->name + strlen(w->name), " ",
                              sizeof(w->name) - strlen(w->name));
            mmdx__strlcpy(w->name + strlen(w->name), out,
                          sizeof(w->name) - strlen(w->name));
        }
        k = 0;
        if (!c)
            break;
    }
    if (w->name[0] >= 'a' && w->name[0] <= 'z')
        w->name[0] = (char)(w->name[0] - 32);
}

const char *mmdx__report_interpret(const char *name, double v)
{
    if (!isfinite(v))
        return "not computable (see data-quality flags)";
    /* heart rate in beats per minute: the conventional adult ranges */
    if ((strcmp(name, "ecg.rate.hr_bpm") == 0 ||
         strcmp(name, "ecg.hr.mean_bpm") == 0)) {
        if (v < 60)
            return "below 60 bpm (bradycardia range)";
        if (v > 100)
            return "above 100 bpm (tachycardia range)";
        return "within 60-100 bpm";
    }
    return NULL;
}
