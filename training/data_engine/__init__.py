# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The real-photo data engine: folders of photos -> dataset A (fits) -> the three training sets.

Stages (``python -m training.data_engine``; each resumes what an earlier run left in the cache):

1. :mod:`~training.data_engine.sources` lists the photos of each source folder (a seeded,
   deterministic subset when a limit is given) and refuses evaluation sets;
2. :mod:`~training.data_engine.prepare` detects the face, gives tight crops context
   (:mod:`~training.data_engine.context`) and writes a prepared copy + its 68 landmarks;
3. inverse rendering of the prepared photos (``python -m training.inverse_render``, sharded);
4. :mod:`~training.data_engine.gate`: the per-fit quality gate and the accepted fits'
   pose / expression distribution;
5. motion statistics of real videos, then the CoarseNet, tracking and FineNet sets
   (:mod:`training.synth`), sharded over processes.
"""
