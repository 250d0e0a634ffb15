# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Synthesis of the three training sets from inverse-rendered photos (paper Sec. 5).

* :mod:`training.synth.coarse`   - CoarseNet set: re-posed, re-expressed renders, warped photo
* :mod:`training.synth.fine`     - FineNet set: Poisson detail transfer (Eq. 18), re-lit renders
* :mod:`training.synth.tracking` - tracking pairs: simulated previous pose, its crop and PNCC
* :mod:`training.synth.estimate_motion` - frame-to-frame motion statistics from a video

Command line: ``python -m training.synth coarse|fine|tracking --fits DIR --out DIR``.
"""
