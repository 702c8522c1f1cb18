"""The classroom hub: every kernel of a class on one dashboard, through Redis.

Kernels publish their runs (:mod:`nnlab.hub.publish`, reached by ``nnlab.connect``); a hub
(``nnlab serve --redis URL``) shows them all. Both sides meet only in Redis, in the shapes
:mod:`nnlab.hub.keys` defines; :mod:`nnlab.hub._redis` imports the Redis client lazily.
"""
