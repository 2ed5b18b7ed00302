/* mmdx/mmdx.h - the whole public API of libmmdx. */
#ifndef MMDX_MMDX_H
#define MMDX_MMDX_H

#include "mmdx/export.h"
#include "mmdx/status.h"
#include "mmdx/core.h"
#include "mmdx/format.h"
#include "mmdx/pipeline.h"
#include "mmdx/cohort.h"
#include "mmdx/report.h"
#include "mmdx/deid.h"
#include "mmdx/synth.h"
#include "mmdx/ecg.h"
#include "mmdx/fusion.h"
#include "mmdx/provenance.h"

#endif
