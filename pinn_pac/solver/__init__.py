"""One equation, one network: the network, its derivatives, exact forms, collocation points,
the physics loss, the optimisers, the training loop and the evaluator. Knows nothing of
transfer methods or run folders."""
