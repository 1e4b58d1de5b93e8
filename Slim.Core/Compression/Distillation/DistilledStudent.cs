using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Distillation;

/// <summary>
/// What the trainer trains during distillation: the student's own children, parameters and
/// buffers under their own names (so checkpoints read like the student's) plus the l2 adapters
/// under <see cref="Distiller.AdapterModuleName"/>. It owns nothing: the student stays the
/// caller's and the adapters the <see cref="Distiller"/>'s.
/// </summary>
internal sealed class DistilledStudent : nn.Module
{
    private readonly nn.Module _student;

    public DistilledStudent(nn.Module student, ModuleDict<Conv2d> adapters) : base(student.TypeName)
    {
        _student = student;
        foreach (var (name, child) in student.named_children())
        {
            if (name == Distiller.AdapterModuleName)
                throw new DistillationException($"distillation: the student already has a module named '{Distiller.AdapterModuleName}', the name the adapters use");
            register_module(name, child);
        }
        foreach (var (name, p) in student.named_parameters(recurse: false))
        {
            // register_parameter turns requires_grad on; a frozen parameter must stay frozen.
            bool requiresGrad = p.requires_grad;
            register_parameter(name, p);
            p.requires_grad = requiresGrad;
        }
        foreach (var (name, b) in student.named_buffers(recurse: false)) register_buffer(name, b);
        if (adapters.Count > 0) register_module(Distiller.AdapterModuleName, adapters);
    }

    public override nn.Module train(bool mode = true)
    {
        // The student's root is not among the mirrored modules; it must follow the mode too.
        _student.train(mode);
        base.train(mode);
        return this;
    }

    protected override void Dispose(bool disposing)
    {
        // Not base.Dispose: the student belongs to the caller, the adapters to the distiller.
    }
}
