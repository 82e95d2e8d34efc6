"""One way to write a moment everywhere a person reads one (portal, desk, admin lists, e-mail):
"30 Nov 2026, 17:44 UTC", in the active time zone, with the zone named. FORMAT_MODULE_PATH
points here; Django's own "en" formats would otherwise win over settings.DATETIME_FORMAT.
Templates write `{{ moment|when }}` (requests_app/templatetags/times.py) or
`{{ moment|date:"DATETIME_FORMAT" }}`; the admin's changelists use DATETIME_FORMAT by
themselves."""

DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i T"
