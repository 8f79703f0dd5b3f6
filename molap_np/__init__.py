"""molap_np: modular latent primitives (MoLaP) in NumPy and autograd.

The package reads in the order of the study:

    tasks, metrics          the nine-task corpus and how it is scored
    rnn, training, files    the modular tanh RNN, its training, its files
    cca, primitives,        the MoLaP steps: corpus statistics, module
    task_learning           pre-training, learning a task on frozen modules
    strategies              MoLaP and the strategies it is compared with
    perturbations           damage to trained networks
    generalisation          learning a task the modules never saw
    pipeline, report, cli   the whole study as one resumable command

Every random draw goes through a ``numpy.random.Generator`` passed in.
"""

__version__ = "0.1.0"
