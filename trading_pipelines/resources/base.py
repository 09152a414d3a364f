"""Resources that mirror a section of the one configuration (trading_core.config)."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel


class ConfigSection:
    """Mixin for a ConfigurableResource whose fields are named like a config section's.

    ``from_config`` builds the resource from the validated section; ``settings`` validates
    the resource's (possibly UI-edited) values back into the section, so a bad value fails
    with the section's message naming the field and the allowed values.
    """

    section: ClassVar[type[BaseModel]]

    @classmethod
    def from_config(cls, cfg: BaseModel, **extra: object) -> Self:
        return cls(**cfg.model_dump(mode="json"), **extra)  # type: ignore[call-arg]

    def settings(self) -> BaseModel:
        fields = {name: getattr(self, name) for name in self.section.model_fields}
        return self.section.model_validate(fields)
