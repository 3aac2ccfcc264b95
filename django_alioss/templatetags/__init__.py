"""Template tags of django-alioss: ``{% load alioss %}`` (see :mod:`.alioss`)."""
