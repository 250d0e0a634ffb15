# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Real-face benchmark of the nets and of the no-network baselines (issue 11, item 1).

``python -m training.benchmark_real [--sets frl,smiling,pose,video] [--weights DIR] ...``
scores the nets on real photos and videos (``../shared/data`` by default, never copied):

* FRL London/Canada/composites: NME against 68 manual landmarks;
* FRL smiling: NME against the dlib predictor and the mouth-corner check against the same
  person's neutral photo;
* FairFace-wide: head pose against a PnP fit of the model's landmarks to dlib's;
* two real videos through the Tracker as the node runs it: NME, drift, re-anchors, jitter,
  track states, tracking net vs single-image net.

Modules: :mod:`.metrics` (NME, jitter, drift, angle agreement), :mod:`.baselines` (mean face by
box / similarity / rigid 3D fit, stage-1 inverse rendering), :mod:`.headpose` (PnP reference),
:mod:`.data` (sets), :mod:`.runner` (running everything), :mod:`.report` (markdown, acceptance),
:mod:`.sheet` (contact sheet), :mod:`.cli` (the command line).
"""
