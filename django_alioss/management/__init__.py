"""Management commands of django-alioss and the helpers they share."""
