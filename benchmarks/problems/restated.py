"""Three built-in families re-stated as a user would write them: the same residual, conditions
and reference, but no exact form and no residual scale (what the solver builds must do)."""

from equations import AllenCahn, Burgers, Equation, Oscillator


class PlainBurgers(Burgers):
    name = "plain-burgers"
    exact_form = lambda self: None
    residual_scale = Equation.residual_scale  # the default: none declared


class PlainOscillator(Oscillator):
    name = "plain-oscillator"
    exact_form = lambda self: None
    residual_scale = Equation.residual_scale  # the default: none declared


class PlainAllenCahn(AllenCahn):
    name = "plain-allen-cahn"
    exact_form = lambda self: None
    residual_scale = Equation.residual_scale  # the default: none declared
