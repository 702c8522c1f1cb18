"""The classroom hub: every kernel of a class on one dashboard, through Redis.

Kernels publish their runs: :mod:`nnlab.hub.connect` (``nnlab.connect``) installs a
:mod:`nnlab.hub.publish` publisher, which paces its Pub/Sub messages with
:mod:`nnlab.hub.budget` and takes requests about its runs through :mod:`nnlab.hub.listen`.
A hub (``nnlab serve --redis URL``) shows them all: :mod:`nnlab.hub.manager` hands the
kernels' broadcasts to :mod:`nnlab.hub.classview`, which feeds the server's fan-out and
answers its REST API. Both sides meet only in Redis, in the shapes :mod:`nnlab.hub.keys`
defines; :mod:`nnlab.hub._redis` imports the Redis client lazily.
"""
