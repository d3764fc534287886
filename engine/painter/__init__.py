"""The painter process: `python -m engine worker` claims jobs from the job table and paints
them, one process per device.

Uses the painting (engine/paint/) and the clips (engine/clips/). Its rooms: the claim loop,
heartbeat and signals (`worker`), a batch of jobs painted in a thread and each settled on its
own (`runner`), a clip job (`clip_job`, its budget `clip_plan`), what the photo and clip paths
share (`context`, `inputs`, `outcome`, `reporting`), how large and how long a job is painted
(`sizing`, the time budget `budget`), how many jobs go together (`batching`), the settings and
the metrics.
"""
