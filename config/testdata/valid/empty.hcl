# An empty file is valid: the shipped defaults and no apps.
