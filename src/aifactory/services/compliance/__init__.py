"""The compliance capability's services: use cases (``use_cases``); the rules they apply are
pure, in ``aifactory.compliance``."""
