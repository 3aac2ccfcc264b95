"""Django storage backend for Alibaba Cloud OSS.

Importing the package imports no SDK: the backend lives in ``django_alioss.storage``.
"""

__version__ = "0.1.0"
