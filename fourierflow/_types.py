"""Shared type aliases (jaxtyping) and small literal types."""

from typing import Literal

from jaxtyping import Array, ArrayLike, Bool, Float, Int

Reduction = Literal["sum", "mean"]

__all__ = ["Array", "ArrayLike", "Bool", "Float", "Int", "Reduction"]
