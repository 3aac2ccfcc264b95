"""``collectstatic`` into OSS: skip unchanged files, upload the rest in parallel.

The pieces, each in its own module:

- :mod:`.stored`: what one write would store (headers, the bytes as stored, gzipped or
  not, and their MD5, the content hash kept in :data:`~.stored.CONTENT_MD5`);
- :mod:`.remote`: one listing of the storage's prefix, and the rule deciding that an
  object already holds given content;
- :mod:`.session`: a :class:`~.session.CollectSession`, one ``collectstatic`` run against
  one static storage: the storage's ``exists``/``delete``/``_save``/``_open`` are answered
  from it while it is active (see ``OSSStaticStorage``), uploads go to a bounded worker
  pool, deletes wait until every upload succeeded;
- :mod:`.progress`: the progress line, per-file lines and the summary.

The command using them is ``django_alioss.management.commands.collectstatic``.
"""

from .progress import Progress
from .session import CollectFailed, CollectSession, Outcome

__all__ = ["CollectFailed", "CollectSession", "Outcome", "Progress"]
