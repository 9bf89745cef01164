using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Serverless.Inference.Model;

namespace Serverless.Inference.PackageTests;

/// <summary>
/// The package's public surface, pinned: every public type and member (with nullable annotations) is listed in
/// PublicApi.approved.txt, so a change to it is deliberate and shows in review.
/// </summary>
public sealed class PublicApiTests
{
    [Fact]
    public void The_public_api_of_the_package_is_the_approved_one()
    {
        var assembly = typeof(T5Model).Assembly;
        var actual = PublicApi.Describe(assembly);
        var approvedPath = Path.Combine(PackageFiles.ProjectDirectory, "PublicApi.approved.txt");

        if (Environment.GetEnvironmentVariable("UPDATE_PUBLIC_API") == "1")
            File.WriteAllText(approvedPath, actual);
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : "";
        if (approved == actual)
            return;

        var receivedPath = Path.Combine(AppContext.BaseDirectory, "PublicApi.received.txt");
        File.WriteAllText(receivedPath, actual);
        var approvedLines = approved.Split('\n').ToHashSet();
        var actualLines = actual.Split('\n').ToHashSet();
        var diff = new StringBuilder();
        foreach (var line in actualLines.Where(l => !approvedLines.Contains(l)))
            diff.Append("\n  + ").Append(line);
        foreach (var line in approvedLines.Where(l => !actualLines.Contains(l)))
            diff.Append("\n  - ").Append(line);
        Assert.Fail($"The public API of {assembly.GetName().Name} differs from tests/Package.Tests/PublicApi.approved.txt "
            + $"(+ new, - gone):{diff}\nIf the change is deliberate, approve it: cp {receivedPath} {approvedPath} "
            + "(or run this test with UPDATE_PUBLIC_API=1), and commit the file with the change.");
    }
}

/// <summary>One line per public type and member, in a C#-like notation, sorted.</summary>
internal static class PublicApi
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static string Describe(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes().Where(t => !Unspeakable(t.Name)))
        {
            var name = TypeName(type);
            lines.Add($"{Kind(type)} {name}{Bases(type)}");
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var member in type.GetMembers(flags))
            {
                if (Describe(member) is { } text)
                    lines.Add($"{name}.{text}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join("\n", lines) + "\n";
    }

    private static string? Describe(MemberInfo member) => member switch
    {
        _ when Unspeakable(member.Name) => null,
        ConstructorInfo c => $"ctor({Parameters(c.GetParameters())})",
        MethodInfo m when m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal) => null, // accessors
        MethodInfo m => $"{Static(m.IsStatic)}{m.Name}{Generics(m)}({Parameters(m.GetParameters())}) : {Nullable(m.ReturnParameter)}",
        PropertyInfo p => $"{Static(p.GetMethod?.IsStatic ?? p.SetMethod?.IsStatic ?? false)}{p.Name} : {Nullable(p)} {{{Accessors(p)} }}",
        FieldInfo f when f.DeclaringType!.IsEnum => f.IsStatic ? $"{f.Name} = {f.GetRawConstantValue()}" : null,
        FieldInfo f => $"{(f.IsLiteral ? "const " : Static(f.IsStatic))}{(f.IsInitOnly ? "readonly " : "")}{f.Name} : {Nullable(f)}",
        EventInfo e => $"event {e.Name} : {TypeName(e.EventHandlerType!)}",
        Type => null, // nested types are listed as types
        _ => $"{member.MemberType} {member.Name}",
    };

    private static string Kind(Type type) =>
        type.IsEnum ? "enum"
        : type.IsInterface ? "interface"
        : type.IsValueType ? (type.GetMethod("<Clone>$") is not null || IsRecordStruct(type) ? "record struct" : "struct")
        : type.IsAbstract && type.IsSealed ? "static class"
        : (type.IsSealed ? "sealed " : type.IsAbstract ? "abstract " : "") + (type.GetMethod("<Clone>$") is not null ? "record" : "class");

    private static bool IsRecordStruct(Type type) =>
        type.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null;

    private static string Bases(Type type)
    {
        var bases = new List<string>();
        if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum))
            bases.Add(TypeName(b));
        bases.AddRange(type.GetInterfaces().Where(i => i.IsPublic || i.IsNestedPublic).Select(TypeName).Order(StringComparer.Ordinal));
        return bases.Count == 0 ? "" : " : " + string.Join(", ", bases);
    }

    private static string Accessors(PropertyInfo p)
    {
        var text = "";
        if (p.GetMethod is { IsPublic: true })
            text += " get;";
        if (p.SetMethod is { IsPublic: true } set)
        {
            var init = set.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));
            text += init ? " init;" : " set;";
        }
        return text;
    }

    private static string Parameters(ParameterInfo[] parameters) => string.Join(", ", parameters.Select(p =>
        $"{(p.IsOut ? "out " : p.ParameterType.IsByRef ? (p.IsIn ? "in " : "ref ") : "")}{Nullable(p)} {p.Name}{(p.HasDefaultValue ? " = " + Default(p) : "")}"));

    private static string Default(ParameterInfo p) => p.DefaultValue switch
    {
        null => p.ParameterType.IsValueType && System.Nullable.GetUnderlyingType(p.ParameterType) is null ? "default" : "null",
        bool b => b ? "true" : "false",
        string s => $"\"{s}\"",
        var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    private static string Generics(MethodInfo m) =>
        m.IsGenericMethodDefinition ? $"<{string.Join(", ", m.GetGenericArguments().Select(a => a.Name))}>" : "";

    private static string Static(bool isStatic) => isStatic ? "static " : "";

    private static string Nullable(ParameterInfo p) => Format(Nullability.Create(p));

    private static string Nullable(PropertyInfo p) => Format(Nullability.Create(p));

    private static string Nullable(FieldInfo f) => Format(Nullability.Create(f));

    private static string Format(NullabilityInfo info)
    {
        var type = info.Type.IsByRef ? info.Type.GetElementType()! : info.Type;
        string text;
        if (info.ElementType is { } element)
            text = Format(element) + "[]";
        else if (type.IsGenericType && System.Nullable.GetUnderlyingType(type) is null)
            text = $"{Strip(type)}<{string.Join(", ", info.GenericTypeArguments.Select(Format))}>";
        else
            text = TypeName(type);
        return info.ReadState == NullabilityState.Nullable && !type.IsValueType ? text + "?" : text;
    }

    private static string TypeName(Type type)
    {
        if (System.Nullable.GetUnderlyingType(type) is { } underlying)
            return TypeName(underlying) + "?";
        if (type.IsArray)
            return TypeName(type.GetElementType()!) + "[]";
        if (type.IsByRef)
            return TypeName(type.GetElementType()!);
        if (type.IsGenericParameter)
            return type.Name;
        var name = Strip(type);
        return type.IsGenericType ? $"{name}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>" : name;
    }

    private static string Strip(Type type)
    {
        var name = type.IsNested ? $"{Strip(type.DeclaringType!)}.{type.Name}" : $"{type.Namespace}.{type.Name}";
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }

    // Compiler-made names (C# 14 extension blocks' marker types, records' <Clone>$) are not API a caller can name.
    private static bool Unspeakable(string name) => name.Contains('<', StringComparison.Ordinal);
}
